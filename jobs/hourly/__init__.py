"""The hourly watch: catch tracking breaks, collapses and spikes within the hour.

:mod:`jobs.hourly.domain` holds the values (hourly panels, realtime windows, hourly
findings), :mod:`jobs.hourly.params` the knobs, :mod:`jobs.hourly.baseline` the
same-hour-of-week expectations and noise, :mod:`jobs.hourly.rules` what is alerted.
Like the rest of :mod:`jobs`, nothing here imports ``alerts`` or ``worker``.
"""
