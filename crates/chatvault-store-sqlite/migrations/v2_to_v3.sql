-- Version 3 indexes senders, so the server finds a person's conversations without
-- scanning every message.
CREATE INDEX IF NOT EXISTS messages_sender ON messages (sender, conversation);
