"""Pipeline stages: plain, typed modules with no Kafka in them.

Data flows one way: fetch -> extract -> dedupe -> enrich -> record.
"""
