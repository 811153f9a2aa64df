"""`mlops profile`: measured latency, throughput and memory of a model, and a sizing from them.

- `request`: what to measure (options checked, the plan of points)
- `data`: the rows a profile sends (read as score-batch reads, or synthesised from the signature)
- `stats`: percentiles and the spread over repeats
- `processes`: CPU time and peak RSS of a process tree (psutil)
- `loadgen`: the HTTP load generator (asyncio, keep-alive) and its own ceiling
- `inprocess`: load through the runtime layer, in this process
- `servers`: a real `mlops serve` process, or the packaged image under Docker, to measure
- `points`: one point's figures from its runs (medians, slices, spread)
- `recommend`: the pure function from measured points and targets to a recommendation
- `sweep`: the whole run: validate, measure every point, recommend, confirm, store
- `stored`: the newest stored recommendation of a version (what `deploy` reads)
- `echo_server`: the trivial server the load generator's ceiling is measured against

Importing this package imports no heavy library.
"""
