-- Version 2 keeps each message's PII flags; rows archived before it have none (NULL),
-- and readers derive them from the content instead.
ALTER TABLE messages ADD COLUMN pii INTEGER;
