// TB case page: record a dose through the API (session cookie), then show the new reminders.
(function () {
  const form = document.querySelector('[data-testid=dose-form]');
  if (!form) return;
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const msg = form.querySelector('[data-testid=dose-message]');
    const data = Object.fromEntries(new FormData(form).entries());
    if (!data.observed_by) delete data.observed_by;
    const r = await fetch(`/api/v1/tb/cases/${form.dataset.case}/doses`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(data),
    });
    if (r.ok) {
      window.location.reload();
    } else {
      const body = await r.json().catch(() => ({}));
      msg.textContent = body.error || `HTTP ${r.status}`;
    }
  });
})();
