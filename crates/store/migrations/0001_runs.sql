-- Stored runs: the shared JSON run object as the commands print it, and the columns the
-- views filter and aggregate on. Applied once; later changes are new numbered files.
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    stored_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    family TEXT NOT NULL,
    target TEXT NOT NULL,
    findings INTEGER NOT NULL,
    -- 0 info, 1 low, 2 medium, 3 high, 4 critical; NULL without findings.
    worst_severity INTEGER,
    report TEXT NOT NULL
);
CREATE INDEX runs_target ON runs (target);
CREATE INDEX runs_family ON runs (family);
CREATE INDEX runs_stored_at ON runs (stored_at);

-- Each ATLAS technique a run exercised (its own and its findings', defended and adaptive
-- runs included), with the findings that name it.
CREATE TABLE run_techniques (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    technique TEXT NOT NULL,
    findings INTEGER NOT NULL,
    worst_severity INTEGER,
    PRIMARY KEY (run_id, technique)
);
CREATE INDEX run_techniques_technique ON run_techniques (technique);
