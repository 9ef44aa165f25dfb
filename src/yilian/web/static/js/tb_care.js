// TB pages: record a dose through the API (session cookie), then show the new reminders;
// acknowledge a transfer into the caller's organisation (转入) from the worklist.
(function () {
  async function post(url, data) {
    const r = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: data === undefined ? undefined : JSON.stringify(data),
    });
    if (r.ok) return null;
    const body = await r.json().catch(() => ({}));
    return body.error || `HTTP ${r.status}`;
  }

  const form = document.querySelector('[data-testid=dose-form]');
  if (form) {
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const msg = form.querySelector('[data-testid=dose-message]');
      const data = Object.fromEntries(new FormData(form).entries());
      if (!data.observed_by) delete data.observed_by;
      const error = await post(`/api/v1/tb/cases/${form.dataset.case}/doses`, data);
      if (error === null) window.location.reload();
      else msg.textContent = error;
    });
  }

  document.querySelectorAll('[data-ack-transfer]').forEach((button) => {
    button.addEventListener('click', async () => {
      const msg = button.parentElement.querySelector('[data-testid=tb-care-ack-message]');
      const error = await post(`/api/v1/tb/transfers/${button.dataset.ackTransfer}/acknowledge`);
      if (error === null) window.location.reload();
      else msg.textContent = error;
    });
  });
})();
