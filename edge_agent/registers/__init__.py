"""The front desk's registers (seed 001 sections 十一, 十四, 十五, 十八; seed 003 (三); seed 004):
one framework (:mod:`.framework`, :mod:`.fields`, the component in :mod:`.service`), five
declarations (:mod:`.renovations`, :mod:`.keys`, :mod:`.parcels`, :mod:`.lost_found`,
:mod:`.releases`) listed in :mod:`.catalogue`, and what retention needs (:mod:`.privacy`)."""
