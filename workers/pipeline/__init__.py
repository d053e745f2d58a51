"""Pipeline stages: plain, typed modules with no Kafka in them.

Data flows one way: fetch -> extract -> dedupe -> enrich -> record.

    fetch/       the HTTP client: limits, pacing, retries, redirects, robots.txt, SSRF guard
    extract/     HTML to article blocks and metadata; bot walls, app shells, index pages told apart
    entities/    named entities and the language (spaCy, per-language models)
    charset      bytes to text (header, <meta>, detection), for fetch and extract alike
    urls         canonical URLs and article ids
    dedupe       the article once, without the template's repetitions (title, headings, boilerplate)
    record       the published record and the dead letter
    submission   the URL message
    analyse      the CPU stages of one page (decode, extract, dedupe, enrich), run in the pool
    pool         the process pool the CPU stages run in
    runner       fetch + pool for one submission (the worker's and ``newswire extract``'s pipeline)
    explain      what the cleaning stages removed from a page (``newswire extract --explain``)

Each stage package exports its public names in ``__all__``; its underscored modules are its own.
"""
