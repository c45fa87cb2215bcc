-- A new prompt version is served at once, like a new live version.
CREATE TRIGGER prompts_notify AFTER INSERT ON prompts
    FOR EACH ROW EXECUTE FUNCTION notify_config_change();
