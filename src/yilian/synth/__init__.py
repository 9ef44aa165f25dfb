"""Synthetic region generator: 长宁 and the 长三角示范区, residents, histories, truth.

Entry points: :func:`yilian.synth.generate.generate` (any size, deterministic for
a seed), :func:`yilian.synth.demo.generate_demo`, :func:`yilian.synth.geography.
registry_payload` and :func:`yilian.synth.load.load_registry`. ``docs/synth.md``
describes the output.
"""
