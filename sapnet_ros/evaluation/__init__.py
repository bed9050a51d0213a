"""Offline evaluation of deraining on recorded drives: ``sapnet-eval-bag``.

    bag -> run.evaluate_bag (derain every frame, write the output bag, per-frame records)
        -> fleet (many bags: local processes or Ray)
        -> report (metrics.json, report.md, report.html)

Per-frame figures live in ``records.FrameRecord``; detectors, the no-reference
score and the ground-truth pairing have a module each.
"""
