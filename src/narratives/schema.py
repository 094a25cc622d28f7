"""The DuckDB schema as named, ordered migrations. Applied once each, in order, by
`store.migrate`; a new migration is appended, never edited, once it has shipped."""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    (
        "core tables",
        """
CREATE TABLE runs (
    run_id VARCHAR NOT NULL,          -- the Prefect flow run id (or a uuid outside Prefect)
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    status VARCHAR NOT NULL,          -- running | ok | partial | failed
    inputs VARCHAR,                   -- the paths given, as JSON
    model_id VARCHAR,                 -- the classifier that coded this run's passages
    embedding_model VARCHAR,
    codebook VARCHAR,
    codebook_version VARCHAR,
    codebook_sha256 VARCHAR,
    documents INTEGER,                -- loaded (new or changed) in this run
    unchanged INTEGER,                -- already stored and coded by the same model: skipped
    passages INTEGER,
    codings INTEGER,
    rejected INTEGER,
    narratives_version VARCHAR
);
COMMENT ON TABLE runs IS 'One row per pipeline run: what it loaded, with which model and codebook.';

CREATE TABLE run_errors (
    run_id VARCHAR NOT NULL,
    path VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL
);
COMMENT ON TABLE run_errors IS 'Files a run rejected, and why.';

CREATE TABLE documents (
    document_id VARCHAR NOT NULL,     -- stable per file path: a changed file replaces itself
    path VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,          -- of the file's bytes
    format VARCHAR NOT NULL,          -- txt | md | docx | vtt | srt | pdf
    encoding VARCHAR,
    title VARCHAR,
    place VARCHAR,
    project VARCHAR,
    wave VARCHAR,
    date DATE,
    role VARCHAR,
    attributes JSON,                  -- further manifest columns
    text VARCHAR NOT NULL,            -- the decoded text; passages are spans of it
    n_passages INTEGER,
    run_id VARCHAR,
    loaded_at TIMESTAMP
);
COMMENT ON TABLE documents IS 'Source files with their case attributes and decoded text.';

CREATE TABLE passages (
    passage_id VARCHAR NOT NULL,      -- document_id-seq
    document_id VARCHAR NOT NULL,
    seq INTEGER NOT NULL,
    speaker VARCHAR,
    is_interviewer BOOLEAN NOT NULL,
    text VARCHAR NOT NULL,            -- = documents.text[start_char:end_char] (0-based)
    start_char INTEGER NOT NULL,
    end_char INTEGER NOT NULL,
    start_time DOUBLE,                -- seconds from the start of the recording
    end_time DOUBLE,
    page INTEGER,                     -- PDF page, from 1
    words INTEGER
);
COMMENT ON TABLE passages IS 'Speaker turns and sentence windows: the units that are coded.';

CREATE TABLE codings (
    passage_id VARCHAR NOT NULL,
    code VARCHAR NOT NULL,
    score DOUBLE,                     -- the classifier''s score; 1.0 for a human coding
    source VARCHAR NOT NULL,          -- model | human
    coder VARCHAR,                    -- the human coder''s name
    model_id VARCHAR,
    codebook VARCHAR,
    codebook_version VARCHAR,
    run_id VARCHAR,
    created_at TIMESTAMP NOT NULL
);
COMMENT ON TABLE codings IS 'Codes applied to passages, by a model or a human coder.';

CREATE TABLE code_scores (
    passage_id VARCHAR NOT NULL,
    code VARCHAR NOT NULL,
    score DOUBLE NOT NULL,
    model_id VARCHAR NOT NULL,
    codebook_version VARCHAR,
    run_id VARCHAR
);
COMMENT ON TABLE code_scores IS 'Every code''s score for every coded passage, applied or not.';

CREATE TABLE embeddings (
    model VARCHAR NOT NULL,
    text_key VARCHAR NOT NULL,        -- sha256 of the passage text, first 32 hex digits
    embedding FLOAT[] NOT NULL
);
COMMENT ON TABLE embeddings IS 'Embedding cache by (model, text): a rerun embeds nothing it has seen.';
""",
    ),
    (
        "evidence view",
        """
CREATE VIEW evidence AS
SELECT
    c.passage_id, p.document_id, d.title, d.place, d.project, d.wave, d.date, d.role,
    p.speaker, p.seq, p.text, c.code, c.score, c.source, c.coder,
    p.start_time, p.end_time, p.page, d.path, c.model_id, c.codebook_version, c.run_id
FROM codings c
JOIN passages p USING (passage_id)
JOIN documents d USING (document_id);
COMMENT ON VIEW evidence IS 'Coded passages with their text, speaker, code, score and case attributes.';
""",
    ),
    (
        "human review decisions",
        """
CREATE TABLE review_decisions (
    passage_id VARCHAR NOT NULL,
    code VARCHAR NOT NULL,            -- the code suggested (for 'change': the code replaced)
    decision VARCHAR NOT NULL,        -- accept | reject | change
    new_code VARCHAR,                 -- for 'change': the code the coder chose instead
    coder VARCHAR NOT NULL,
    model_id VARCHAR,                 -- the model whose suggestion was reviewed
    created_at TIMESTAMP NOT NULL
);
COMMENT ON TABLE review_decisions IS 'Each decision a coder took in `narratives review`; accepted and changed codes are also human rows in codings.';
""",
    ),
]
