"""Development tooling that never runs in production, for the demo, the tests and the benchmarks.

* :mod:`.broker`: a real single-node Kafka broker (``newswire broker start|stop|status``);
* :mod:`.cluster`: a local 3-node KRaft cluster for the cluster tests;
* :mod:`.run`: real ``newswire worker`` processes;
* :mod:`.pages`: an HTTP server on 127.0.0.1 for article pages;
* :mod:`.feeds`: RSS/Atom/sitemap documents and a feed server that answers conditional requests.

Nothing under ``workers/`` outside this package imports it, except the CLI registering the ``broker`` commands.
"""
