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
    (
        "column comments",
        """
COMMENT ON TABLE schema_migrations IS 'The migrations applied to this database, in order.';
COMMENT ON COLUMN schema_migrations.version IS 'Position of the migration in '
    'narratives.schema.MIGRATIONS, from 1';
COMMENT ON COLUMN schema_migrations.name IS 'What the migration does';
COMMENT ON COLUMN schema_migrations.applied_at IS 'When it was applied';

COMMENT ON COLUMN runs.run_id IS 'The Prefect flow run id (or a uuid outside Prefect)';
COMMENT ON COLUMN runs.started_at IS 'When the run started';
COMMENT ON COLUMN runs.finished_at IS 'When the run finished; NULL while running or after a crash';
COMMENT ON COLUMN runs.status IS 'running | ok | partial | failed';
COMMENT ON COLUMN runs.inputs IS 'The paths given, as JSON';
COMMENT ON COLUMN runs.model_id IS 'The classifier that coded this run''s passages';
COMMENT ON COLUMN runs.embedding_model IS 'The sentence-embedding model passages were embedded '
    'with';
COMMENT ON COLUMN runs.codebook IS 'Name of the codebook';
COMMENT ON COLUMN runs.codebook_version IS 'Version of the codebook';
COMMENT ON COLUMN runs.codebook_sha256 IS 'sha256 of the codebook file';
COMMENT ON COLUMN runs.documents IS 'Documents loaded (new or changed) in this run';
COMMENT ON COLUMN runs.unchanged IS 'Documents already stored and coded by the same model: skipped';
COMMENT ON COLUMN runs.passages IS 'Passages stored by this run';
COMMENT ON COLUMN runs.codings IS 'Model codings stored by this run';
COMMENT ON COLUMN runs.rejected IS 'Files rejected (see run_errors)';
COMMENT ON COLUMN runs.narratives_version IS 'Version of narratives that ran';

COMMENT ON COLUMN run_errors.run_id IS 'The run that rejected the file';
COMMENT ON COLUMN run_errors.path IS 'The file rejected';
COMMENT ON COLUMN run_errors.reason IS 'Why, in words a user can act on';
COMMENT ON COLUMN run_errors.created_at IS 'When';

COMMENT ON COLUMN documents.document_id IS 'Stable per file path: a changed file replaces itself';
COMMENT ON COLUMN documents.path IS 'The file, as given to the run';
COMMENT ON COLUMN documents.sha256 IS 'sha256 of the file''s bytes';
COMMENT ON COLUMN documents.format IS 'txt | md | docx | vtt | srt | pdf';
COMMENT ON COLUMN documents.encoding IS 'Text encoding the file was decoded from';
COMMENT ON COLUMN documents.title IS 'Manifest: title';
COMMENT ON COLUMN documents.place IS 'Manifest: the place (local area) of the project';
COMMENT ON COLUMN documents.project IS 'Manifest: the project';
COMMENT ON COLUMN documents.wave IS 'Manifest: evaluation wave, free text (baseline, follow-up, '
    '...)';
COMMENT ON COLUMN documents.date IS 'Manifest: date of the interview or report';
COMMENT ON COLUMN documents.role IS 'Manifest: role of the interviewee (or report)';
COMMENT ON COLUMN documents.attributes IS 'Further manifest columns, as a JSON object (e.g. '
    'participants)';
COMMENT ON COLUMN documents.text IS 'The decoded text; passages are spans of it';
COMMENT ON COLUMN documents.n_passages IS 'Passages segmented from the document';
COMMENT ON COLUMN documents.run_id IS 'The run that loaded this version of the file';
COMMENT ON COLUMN documents.loaded_at IS 'When it was loaded';

COMMENT ON COLUMN passages.passage_id IS 'document_id-seq';
COMMENT ON COLUMN passages.document_id IS 'The document the passage is a span of';
COMMENT ON COLUMN passages.seq IS 'Position in the document, from 0';
COMMENT ON COLUMN passages.speaker IS 'Speaker label as written in the transcript; NULL in reports';
COMMENT ON COLUMN passages.is_interviewer IS 'An interviewer turn: kept for context, not coded';
COMMENT ON COLUMN passages.text IS 'Exactly documents.text[start_char:end_char] (0-based)';
COMMENT ON COLUMN passages.start_char IS 'Start offset in documents.text, in characters';
COMMENT ON COLUMN passages.end_char IS 'End offset (exclusive) in documents.text, in characters';
COMMENT ON COLUMN passages.start_time IS 'Seconds from the start of the recording';
COMMENT ON COLUMN passages.end_time IS 'Seconds from the start of the recording';
COMMENT ON COLUMN passages.page IS 'PDF page, from 1';
COMMENT ON COLUMN passages.words IS 'Words in the passage';

COMMENT ON COLUMN codings.passage_id IS 'The passage coded';
COMMENT ON COLUMN codings.code IS 'Code id from the codebook';
COMMENT ON COLUMN codings.score IS 'The classifier''s score; 1.0 for a human coding';
COMMENT ON COLUMN codings.source IS 'model | human';
COMMENT ON COLUMN codings.coder IS 'The human coder''s name';
COMMENT ON COLUMN codings.model_id IS 'The classifier that applied the code (model codings)';
COMMENT ON COLUMN codings.codebook IS 'Name of the codebook';
COMMENT ON COLUMN codings.codebook_version IS 'Version of the codebook';
COMMENT ON COLUMN codings.run_id IS 'The run that stored the coding';
COMMENT ON COLUMN codings.created_at IS 'When it was stored';

COMMENT ON COLUMN code_scores.passage_id IS 'The passage scored';
COMMENT ON COLUMN code_scores.code IS 'Code id from the codebook';
COMMENT ON COLUMN code_scores.score IS 'The classifier''s score, applied or not';
COMMENT ON COLUMN code_scores.model_id IS 'The classifier';
COMMENT ON COLUMN code_scores.codebook_version IS 'Version of the codebook';
COMMENT ON COLUMN code_scores.run_id IS 'The run that scored it';

COMMENT ON COLUMN embeddings.model IS 'The embedding model (cache key)';
COMMENT ON COLUMN embeddings.text_key IS 'sha256 of the passage text, first 32 hex digits '
    '(narratives.embed.text_key)';
COMMENT ON COLUMN embeddings.embedding IS 'Unit-length vector';

COMMENT ON COLUMN review_decisions.passage_id IS 'The passage reviewed';
COMMENT ON COLUMN review_decisions.code IS 'The code suggested (for change: the code replaced)';
COMMENT ON COLUMN review_decisions.decision IS 'accept | reject | change';
COMMENT ON COLUMN review_decisions.new_code IS 'For change: the code the coder chose instead';
COMMENT ON COLUMN review_decisions.coder IS 'The coder';
COMMENT ON COLUMN review_decisions.model_id IS 'The model whose suggestion was reviewed';
COMMENT ON COLUMN review_decisions.created_at IS 'When';

COMMENT ON COLUMN evidence.passage_id IS 'The passage';
COMMENT ON COLUMN evidence.document_id IS 'Its document';
COMMENT ON COLUMN evidence.title IS 'Manifest: title';
COMMENT ON COLUMN evidence.place IS 'Manifest: place';
COMMENT ON COLUMN evidence.project IS 'Manifest: project';
COMMENT ON COLUMN evidence.wave IS 'Manifest: wave';
COMMENT ON COLUMN evidence.date IS 'Manifest: date';
COMMENT ON COLUMN evidence.role IS 'Manifest: role';
COMMENT ON COLUMN evidence.speaker IS 'Speaker label; NULL in reports';
COMMENT ON COLUMN evidence.seq IS 'Position of the passage in its document';
COMMENT ON COLUMN evidence.text IS 'The passage text, exactly as in the document';
COMMENT ON COLUMN evidence.code IS 'Code applied';
COMMENT ON COLUMN evidence.score IS 'The classifier''s score; 1.0 for a human coding';
COMMENT ON COLUMN evidence.source IS 'model | human';
COMMENT ON COLUMN evidence.coder IS 'The human coder''s name';
COMMENT ON COLUMN evidence.start_time IS 'Seconds from the start of the recording';
COMMENT ON COLUMN evidence.end_time IS 'Seconds from the start of the recording';
COMMENT ON COLUMN evidence.page IS 'PDF page, from 1';
COMMENT ON COLUMN evidence.path IS 'The source file';
COMMENT ON COLUMN evidence.model_id IS 'The classifier (model codings)';
COMMENT ON COLUMN evidence.codebook_version IS 'Version of the codebook';
COMMENT ON COLUMN evidence.run_id IS 'The run that stored the coding';
""",
    ),
    (
        "evaluation views",
        """
CREATE VIEW final_codings AS
WITH human_passages AS (
    SELECT passage_id FROM codings WHERE source = 'human'
    UNION
    SELECT passage_id FROM review_decisions
)
SELECT c.passage_id, c.code, max(coalesce(c.score, 1.0)) AS score, c.source
FROM codings c
WHERE c.source = 'human'
   OR (c.source = 'model'
       AND NOT EXISTS (SELECT 1 FROM human_passages h WHERE h.passage_id = c.passage_id))
GROUP BY c.passage_id, c.code, c.source;
COMMENT ON VIEW final_codings IS 'The codes each passage counts with: a passage a human coded or '
    'reviewed takes the human codings only; every other passage takes the model''s codings. The '
    'views below count these.';
COMMENT ON COLUMN final_codings.passage_id IS 'The passage';
COMMENT ON COLUMN final_codings.code IS 'Code applied';
COMMENT ON COLUMN final_codings.score IS 'The model''s score, or 1.0 for a human coding';
COMMENT ON COLUMN final_codings.source IS 'human | model';

CREATE VIEW code_prevalence AS
WITH participant AS (
    SELECT p.passage_id, d.place, d.project, d.wave, d.role
    FROM passages p JOIN documents d USING (document_id)
    WHERE NOT p.is_interviewer
),
cases AS (
    SELECT place, project, wave, role, count(*) AS participant_passages
    FROM participant GROUP BY ALL
),
codes AS (
    SELECT code FROM code_scores UNION SELECT code FROM codings
),
coded AS (
    SELECT x.place, x.project, x.wave, x.role, f.code,
           count(DISTINCT f.passage_id) AS passages_coded
    FROM final_codings f JOIN participant x USING (passage_id)
    GROUP BY ALL
)
SELECT c.place, c.project, c.wave, c.role, k.code,
       coalesce(n.passages_coded, 0) AS passages_coded,
       c.participant_passages,
       coalesce(n.passages_coded, 0) / c.participant_passages AS share
FROM cases c CROSS JOIN codes k
LEFT JOIN coded n
  ON n.code = k.code
 AND n.place IS NOT DISTINCT FROM c.place AND n.project IS NOT DISTINCT FROM c.project
 AND n.wave IS NOT DISTINCT FROM c.wave AND n.role IS NOT DISTINCT FROM c.role
ORDER BY c.place, c.project, c.wave, c.role, k.code;
COMMENT ON VIEW code_prevalence IS 'How often each code is applied, per place, project, wave and '
    'role (the manifest''s): participant passages coded with the code, out of all participant '
    'passages (interviewer turns excluded). Codings as in final_codings: human where a human '
    'coded or reviewed the passage, else the model''s.';
COMMENT ON COLUMN code_prevalence.place IS 'Manifest: place';
COMMENT ON COLUMN code_prevalence.project IS 'Manifest: project';
COMMENT ON COLUMN code_prevalence.wave IS 'Manifest: wave';
COMMENT ON COLUMN code_prevalence.role IS 'Manifest: role';
COMMENT ON COLUMN code_prevalence.code IS 'Code id (every code seen in the database, also when 0)';
COMMENT ON COLUMN code_prevalence.passages_coded IS 'Participant passages with the code';
COMMENT ON COLUMN code_prevalence.participant_passages IS 'Participant passages in the group';
COMMENT ON COLUMN code_prevalence.share IS 'passages_coded / participant_passages';

CREATE VIEW wave_change AS
WITH participant AS (
    SELECT p.passage_id, d.place, d.wave, d.date
    FROM passages p JOIN documents d USING (document_id)
    WHERE NOT p.is_interviewer
),
waves AS (
    SELECT place, wave, min(date) AS wave_date, count(*) AS participant_passages
    FROM participant GROUP BY ALL
),
codes AS (
    SELECT code FROM code_scores UNION SELECT code FROM codings
),
coded AS (
    SELECT x.place, x.wave, f.code, count(DISTINCT f.passage_id) AS passages_coded
    FROM final_codings f JOIN participant x USING (passage_id)
    GROUP BY ALL
),
shares AS (
    SELECT w.place, k.code, w.wave, w.wave_date,
           coalesce(n.passages_coded, 0) AS passages_coded, w.participant_passages,
           coalesce(n.passages_coded, 0) / w.participant_passages AS share
    FROM waves w CROSS JOIN codes k
    LEFT JOIN coded n
      ON n.code = k.code AND n.place IS NOT DISTINCT FROM w.place
     AND n.wave IS NOT DISTINCT FROM w.wave
)
SELECT place, code,
       row_number() OVER w AS wave_number,
       wave, wave_date, passages_coded, participant_passages, share,
       lag(wave) OVER w AS previous_wave,
       lag(share) OVER w AS previous_share,
       share - lag(share) OVER w AS change,
       share - first_value(share) OVER w AS change_since_first
FROM shares
WINDOW w AS (PARTITION BY place, code ORDER BY wave_date NULLS LAST, wave)
ORDER BY place, code, wave_number;
COMMENT ON VIEW wave_change IS 'How each code''s share of participant passages changed between '
    'waves, per place: one row per place, code and wave, waves ordered by the earliest document '
    'date in that place and wave. Codings as in final_codings.';
COMMENT ON COLUMN wave_change.place IS 'Manifest: place';
COMMENT ON COLUMN wave_change.code IS 'Code id';
COMMENT ON COLUMN wave_change.wave_number IS 'Order of the wave in this place, from 1';
COMMENT ON COLUMN wave_change.wave IS 'Manifest: wave';
COMMENT ON COLUMN wave_change.wave_date IS 'Earliest document date of the wave in this place';
COMMENT ON COLUMN wave_change.passages_coded IS 'Participant passages with the code';
COMMENT ON COLUMN wave_change.participant_passages IS 'Participant passages of the place in the '
    'wave';
COMMENT ON COLUMN wave_change.share IS 'passages_coded / participant_passages';
COMMENT ON COLUMN wave_change.previous_wave IS 'The wave before; NULL for the first';
COMMENT ON COLUMN wave_change.previous_share IS 'share in the wave before';
COMMENT ON COLUMN wave_change.change IS 'share - previous_share';
COMMENT ON COLUMN wave_change.change_since_first IS 'share - share in the first wave';

CREATE VIEW code_cooccurrence AS
WITH per_code AS (
    SELECT code, count(DISTINCT passage_id) AS passages FROM final_codings GROUP BY code
)
SELECT a.code AS code_a, b.code AS code_b,
       count(DISTINCT a.passage_id) AS passages_both,
       any_value(pa.passages) AS passages_a,
       any_value(pb.passages) AS passages_b
FROM final_codings a
JOIN final_codings b ON a.passage_id = b.passage_id AND a.code < b.code
JOIN per_code pa ON pa.code = a.code
JOIN per_code pb ON pb.code = b.code
GROUP BY a.code, b.code
ORDER BY a.code, b.code;
COMMENT ON VIEW code_cooccurrence IS 'Which codes are applied to the same passage: one row per '
    'pair of codes (code_a < code_b) found together at least once. Codings as in final_codings.';
COMMENT ON COLUMN code_cooccurrence.code_a IS 'Code id (alphabetically first of the pair)';
COMMENT ON COLUMN code_cooccurrence.code_b IS 'Code id';
COMMENT ON COLUMN code_cooccurrence.passages_both IS 'Passages with both codes';
COMMENT ON COLUMN code_cooccurrence.passages_a IS 'Passages with code_a';
COMMENT ON COLUMN code_cooccurrence.passages_b IS 'Passages with code_b';

CREATE VIEW passages_by_role AS
WITH first_speaker AS (
    SELECT document_id, arg_min(speaker, seq) AS speaker
    FROM passages
    WHERE NOT is_interviewer AND speaker IS NOT NULL
    GROUP BY document_id
),
labelled AS (
    SELECT p.passage_id, p.document_id, p.speaker, p.words,
           CASE
               WHEN p.is_interviewer THEN 'interviewer'
               WHEN p.speaker IS NULL OR p.speaker = f.speaker THEN coalesce(d.role, 'participant')
               ELSE 'participant'
           END AS speaker_role
    FROM passages p
    JOIN documents d USING (document_id)
    LEFT JOIN first_speaker f USING (document_id)
)
SELECT speaker_role,
       count(DISTINCT document_id) AS documents,
       count(DISTINCT speaker) AS speakers,
       count(*) AS passages,
       count(*) FILTER (WHERE passage_id IN (SELECT passage_id FROM final_codings))
           AS coded_passages,
       sum(words) AS words
FROM labelled
GROUP BY speaker_role
ORDER BY passages DESC, speaker_role;
COMMENT ON VIEW passages_by_role IS 'Passages per speaker role: interviewer turns are '
    '''interviewer''; the first participant speaker of a document (or a report''s text) takes the '
    'document''s manifest role; other speakers are ''participant''.';
COMMENT ON COLUMN passages_by_role.speaker_role IS 'interviewer, a manifest role, or participant';
COMMENT ON COLUMN passages_by_role.documents IS 'Documents with passages in this role';
COMMENT ON COLUMN passages_by_role.speakers IS 'Distinct speaker labels';
COMMENT ON COLUMN passages_by_role.passages IS 'Passages';
COMMENT ON COLUMN passages_by_role.coded_passages IS 'Passages with at least one code '
    '(final_codings)';
COMMENT ON COLUMN passages_by_role.words IS 'Words in those passages';
""",
    ),
    (
        "human coded passages",
        """
CREATE TABLE human_coded_passages (
    passage_id VARCHAR NOT NULL,
    coder VARCHAR NOT NULL,
    source_file VARCHAR,              -- the file imported
    created_at TIMESTAMP NOT NULL
);
COMMENT ON TABLE human_coded_passages IS 'Passages a coder coded in full by import '
    '(import-codings, import-qdpx): every code decided, applied iff in the coder''s human '
    'codings of the passage. One row per (passage, coder); a later import replaces it. Imports '
    'made before this table existed are not recorded.';
COMMENT ON COLUMN human_coded_passages.passage_id IS 'The passage coded in full';
COMMENT ON COLUMN human_coded_passages.coder IS 'The coder';
COMMENT ON COLUMN human_coded_passages.source_file IS 'The file imported';
COMMENT ON COLUMN human_coded_passages.created_at IS 'When it was imported';
""",
    ),
    (
        "human decisions per passage and code",
        """
CREATE VIEW human_decisions AS
WITH codes AS (
    SELECT code FROM code_scores UNION SELECT code FROM codings
),
human_codings AS (
    SELECT DISTINCT passage_id, code, coder FROM codings WHERE source = 'human'
),
decisions AS (
    SELECT i.passage_id, k.code, i.coder, h.code IS NOT NULL AS applied,
           i.created_at AS decided_at, 'import' AS how
    FROM human_coded_passages i
    CROSS JOIN codes k
    LEFT JOIN human_codings h
      ON h.passage_id = i.passage_id AND h.code = k.code AND h.coder = i.coder
    UNION ALL
    SELECT passage_id, code, coder, decision = 'accept', created_at, 'review'
    FROM review_decisions
    UNION ALL
    SELECT passage_id, new_code, coder, true, created_at, 'review'
    FROM review_decisions WHERE decision = 'change' AND new_code IS NOT NULL
    UNION ALL
    SELECT passage_id, code, coder, true, created_at, 'coding'
    FROM codings WHERE source = 'human' AND coder IS NOT NULL
)
SELECT passage_id, code, coder, applied, decided_at, how
FROM decisions
QUALIFY row_number() OVER (
    PARTITION BY passage_id, code, coder
    ORDER BY decided_at DESC, how = 'coding', applied DESC
) = 1;
COMMENT ON VIEW human_decisions IS 'The rule for human judgements, per (passage, code) pair: '
    'one row per pair a coder decided, with the coder''s latest decision. A coder decides a '
    'pair by importing a full coding of the passage (human_coded_passages: every code known to '
    'the database is decided, applied iff the coder coded it), by a review decision on the pair '
    '(accept: applied; reject: not applied; change from X to Y: X not applied, Y applied), or '
    'by any human coding of the pair (applied). Codes of a reviewed passage that the coder did '
    'not decide are not here: they are undecided, not absent. final_codings, `narratives '
    'agreement` and `narratives export-training` read this view.';
COMMENT ON COLUMN human_decisions.passage_id IS 'The passage';
COMMENT ON COLUMN human_decisions.code IS 'Code id';
COMMENT ON COLUMN human_decisions.coder IS 'The coder who decided the pair';
COMMENT ON COLUMN human_decisions.applied IS 'Does the code apply, in the coder''s latest '
    'decision?';
COMMENT ON COLUMN human_decisions.decided_at IS 'When that decision was taken';
COMMENT ON COLUMN human_decisions.how IS 'import | review | coding (a human coding with no '
    'import record or review decision behind it, e.g. imported before imports were recorded)';

CREATE OR REPLACE VIEW final_codings AS
WITH latest AS (
    SELECT passage_id, code, applied FROM human_decisions
    QUALIFY row_number() OVER (
        PARTITION BY passage_id, code ORDER BY decided_at DESC, applied DESC, coder
    ) = 1
)
SELECT passage_id, code, 1.0::DOUBLE AS score, 'human' AS source
FROM latest WHERE applied
UNION ALL
SELECT c.passage_id, c.code, max(coalesce(c.score, 1.0)) AS score, 'model' AS source
FROM codings c
WHERE c.source = 'model'
  AND NOT EXISTS (SELECT 1 FROM human_decisions h
                  WHERE h.passage_id = c.passage_id AND h.code = c.code)
GROUP BY c.passage_id, c.code;
COMMENT ON VIEW final_codings IS 'The codes each passage counts with, decided per (passage, '
    'code) pair: where a human decided the pair (human_decisions) the human decision counts, '
    'else the model''s coding. Where several coders, or several decisions, decided a pair, the '
    'latest decision counts (on a tie, applied wins). A review decision on one code leaves the '
    'model''s other codes of the passage in place. The views below count these.';
COMMENT ON COLUMN final_codings.passage_id IS 'The passage';
COMMENT ON COLUMN final_codings.code IS 'Code applied';
COMMENT ON COLUMN final_codings.score IS 'The model''s score, or 1.0 for a human coding';
COMMENT ON COLUMN final_codings.source IS 'human | model';

COMMENT ON VIEW code_prevalence IS 'How often each code is applied, per place, project, wave and '
    'role (the manifest''s): participant passages coded with the code, out of all participant '
    'passages (interviewer turns excluded). Codings as in final_codings: per (passage, code), '
    'the human decision where there is one, else the model''s.';
""",
    ),
    (
        "runs record their machine and process, so a run killed outright can be found",
        """
ALTER TABLE runs ADD COLUMN host VARCHAR;
ALTER TABLE runs ADD COLUMN pid INTEGER;
COMMENT ON COLUMN runs.host IS 'The machine the run ran on';
COMMENT ON COLUMN runs.pid IS 'The process that ran it there';
COMMENT ON COLUMN runs.status IS 'running | ok | partial | failed (a run still running whose '
    'process has gone, killed outright, is marked failed by the next run on its machine)';
""",
    ),
    (
        "the codebooks runs coded by, whole: commands on a database know its codes",
        """
CREATE TABLE codebooks (
    sha256 VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    content JSON NOT NULL,
    first_run_id VARCHAR
);
COMMENT ON TABLE codebooks IS 'Each codebook a run coded by, whole (runs.codebook_sha256 names '
    'it): review, report, import-codings and the REFI-QDA exchange take the latest run''s '
    'codes, labels and definitions from here unless a codebook file is named';
COMMENT ON COLUMN codebooks.sha256 IS 'sha256 of the codebook file, as in runs.codebook_sha256';
COMMENT ON COLUMN codebooks.name IS 'Name of the codebook';
COMMENT ON COLUMN codebooks.version IS 'Version of the codebook';
COMMENT ON COLUMN codebooks.content IS 'The codebook as in its YAML file, as a JSON object '
    '(name, version, description, exclusive, codes with id, label, definition, include, '
    'exclude, examples)';
COMMENT ON COLUMN codebooks.first_run_id IS 'The first run that coded by it';
""",
    ),
]
