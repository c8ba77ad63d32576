"""Analysis on the case model: every module reads the engine's case table and findings; none
re-derives a case fact.

- :mod:`.audit` — the 最多跑一次 audit (findings, 四减 summary)
- :mod:`.kinds` — the audit's finding kinds, one module each, and their registry
- :mod:`.discover`, :mod:`.maps`, :mod:`.conform` — process models, maps, conformance (pm4py)
- :mod:`.monitor`, :mod:`.cards` — 督办: red/yellow cards, indicators, card history
- :mod:`.ratings` — 好差评 and rectification
- :mod:`.bundles` — 一件事 instances and candidates
- :mod:`.compare`, :mod:`.redesign` — before/after, and a redesigned workflow on the same facts
"""
