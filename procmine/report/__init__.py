"""Reports: the structure (:mod:`.structure`, :mod:`.sections`: plain data, composed from one
analysis) and its renderers, which lay out and compute nothing — terminal (:mod:`.terminal`),
xlsx (:mod:`.xlsx`), HTML (:mod:`.html`), tables of any command (:mod:`.tables`). Texts come
from one catalogue (:mod:`procmine.messages`)."""
