"""Google's side of the worker: credentials (:mod:`.auth`), the GA4 and Search Console
client factories and sources (:mod:`.clients`), and property discovery (:mod:`.discover`).

The Google client libraries load only when one of these modules is imported.
"""
