-- The platform's schema. Every table that holds a unit's data has a `unit`
-- column, and every query of the API filters on it: one unit never sees
-- another's rows.

-- Units and their versioned configuration ---------------------------------

CREATE TABLE units (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name        text NOT NULL,
    -- requested: a sign-up waiting for its approvals; live: serving calls.
    state       text NOT NULL DEFAULT 'requested' CHECK (state IN ('requested', 'live', 'suspended')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Every version of a unit's document (the YAML of units/<unit>.yaml), as
-- sent and as parsed.
CREATE TABLE unit_versions (
    unit        text NOT NULL REFERENCES units (id),
    version     integer NOT NULL CHECK (version > 0),
    yaml        text NOT NULL,
    document    jsonb NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (unit, version)
);

-- The version the nodes serve.
CREATE TABLE live_versions (
    unit        text PRIMARY KEY REFERENCES units (id),
    version     integer NOT NULL,
    since       timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (unit, version) REFERENCES unit_versions (unit, version)
);

-- What the unit is approved to spend on (cc_governance::Approved).
CREATE TABLE approved (
    unit        text PRIMARY KEY REFERENCES units (id),
    scope       jsonb NOT NULL,
    max_agents  integer NOT NULL CHECK (max_agents >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A service number belongs to one unit, across the platform.
CREATE TABLE service_numbers (
    number      text PRIMARY KEY CHECK (number ~ '^\+?[0-9]{3,15}$'),
    unit        text NOT NULL REFERENCES units (id)
);
CREATE INDEX service_numbers_unit ON service_numbers (unit);

-- The university-wide calendar (closures every unit follows), versioned.
CREATE TABLE university_calendar_versions (
    version     integer PRIMARY KEY CHECK (version > 0),
    document    jsonb NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Prompts: the audio itself (8 kHz, mono, 16-bit WAV), versioned.
CREATE TABLE prompts (
    unit        text NOT NULL REFERENCES units (id),
    name        text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    version     integer NOT NULL CHECK (version > 0),
    wav         bytea NOT NULL,
    duration_ms integer NOT NULL CHECK (duration_ms > 0),
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (unit, name, version)
);

-- People and what they may do ---------------------------------------------

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._@-]{0,127}$'),
    display_name  text NOT NULL DEFAULT '',
    -- argon2id PHC string; never the secret itself.
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- A role, of a unit for unit roles (unit_manager, supervisor, agent), of
-- the platform for the others (ict_directorate, noc_viewer).
CREATE TABLE user_roles (
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        text NOT NULL CHECK (role IN ('ict_directorate', 'unit_manager', 'supervisor', 'agent', 'noc_viewer')),
    unit        text REFERENCES units (id),
    CHECK ((role IN ('unit_manager', 'supervisor', 'agent')) = (unit IS NOT NULL))
);
CREATE UNIQUE INDEX user_roles_once ON user_roles (user_id, role, coalesce(unit, ''));

-- Bearer tokens, kept as their SHA-256.
CREATE TABLE sessions (
    token_sha256 bytea PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

-- Agents with their SIP account (what Kamailio's subscriber table needs).
CREATE TABLE agents (
    unit          text NOT NULL REFERENCES units (id),
    id            text NOT NULL,
    name          text NOT NULL,
    endpoint      text NOT NULL CHECK (endpoint IN ('microsip', 'desk_phone')),
    -- The address the nodes dial (sip:<sip_username>@<domain> for a
    -- MicroSIP account; the desk phone's line otherwise).
    uri           text NOT NULL,
    sip_username  text UNIQUE,
    sip_password  text,
    user_id       bigint REFERENCES users (id),
    PRIMARY KEY (unit, id),
    CHECK ((endpoint = 'microsip') = (sip_username IS NOT NULL AND sip_password IS NOT NULL))
);

-- Governance ---------------------------------------------------------------

-- A sign-up or a change: a proposed version and what it waits for.
CREATE TABLE requests (
    id           bigserial PRIMARY KEY,
    unit         text NOT NULL REFERENCES units (id),
    kind         text NOT NULL CHECK (kind IN ('sign_up', 'change', 'rollback')),
    version      integer NOT NULL,
    costs        jsonb NOT NULL DEFAULT '[]',
    state        jsonb NOT NULL,
    requested_by text NOT NULL,
    reason       text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    closed_at    timestamptz,
    FOREIGN KEY (unit, version) REFERENCES unit_versions (unit, version)
);
CREATE INDEX requests_unit ON requests (unit, id);

CREATE TABLE decisions (
    request_id  bigint NOT NULL REFERENCES requests (id),
    username    text NOT NULL,
    role        text NOT NULL,
    decision    text NOT NULL CHECK (decision IN ('approve', 'reject')),
    reason      text NOT NULL DEFAULT '',
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, username)
);

-- Who did what, when, to what, and why. Append-only.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    username    text NOT NULL,
    role        text NOT NULL,
    unit        text REFERENCES units (id),
    action      text NOT NULL,
    subject     text NOT NULL DEFAULT '',
    diff        jsonb NOT NULL DEFAULT '[]',
    reason      text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_unit ON audit_log (unit, id);

-- Calls ---------------------------------------------------------------------

-- One row per call, as the node's record (JSON) plus the columns searched.
CREATE TABLE call_records (
    call_id     text PRIMARY KEY,
    unit        text NOT NULL REFERENCES units (id),
    node        text NOT NULL,
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    caller      text NOT NULL DEFAULT '',
    number      text NOT NULL DEFAULT '',
    agent       text,
    queue       text,
    outcome     text NOT NULL DEFAULT '',
    tags        text[] NOT NULL DEFAULT '{}',
    record      jsonb NOT NULL
);
CREATE INDEX call_records_unit ON call_records (unit, started_at DESC);

CREATE TABLE voicemail (
    id          bigserial PRIMARY KEY,
    unit        text NOT NULL REFERENCES units (id),
    call_id     text NOT NULL UNIQUE,
    caller      text NOT NULL DEFAULT '',
    received_at timestamptz NOT NULL,
    duration_ms integer NOT NULL CHECK (duration_ms >= 0),
    wav         bytea NOT NULL,
    heard_by    text,
    heard_at    timestamptz
);
CREATE INDEX voicemail_unit ON voicemail (unit, received_at DESC);

-- Tags set on calls (by DTMF or the API), beside the record's copy.
CREATE TABLE call_tags (
    call_id     text NOT NULL,
    unit        text NOT NULL REFERENCES units (id),
    tag         text NOT NULL,
    tagged_by   text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (call_id, tag)
);

-- Outside numbers a node refused to dial (out of the approved scope).
CREATE TABLE dial_refusals (
    id          bigserial PRIMARY KEY,
    unit        text NOT NULL REFERENCES units (id),
    call_id     text NOT NULL,
    target      text NOT NULL,
    class       text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);

-- Nodes reload a unit's configuration when this is notified (LISTEN
-- cc_config), with the unit's id as payload.
CREATE FUNCTION notify_config_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('cc_config', NEW.unit);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER live_versions_notify AFTER INSERT OR UPDATE ON live_versions
    FOR EACH ROW EXECUTE FUNCTION notify_config_change();
