"""Syndicated-story clustering: near-duplicate detection on article text, without Kafka.

* :mod:`.shingles`: text -> normalised word tokens -> hashed word shingles;
* :mod:`.minhash`: shingles -> MinHash signature, LSH band keys, similarity estimates;
* :mod:`.index`: the story index over a key/value store (a Faust table on the
  stream, a dict in tests): add, query, age out;
* :mod:`.desk`: the story desk's step (one record in, the final article record out).

The Faust wiring is :mod:`.agents`; docs/stories.md has the design and the measurements.
"""
