-- Read scaling and large installations (ARCHITECTURE.md, "Read scaling and large
-- installations"), in one transaction.

-- Messages deleted in each group so far. A hot standby whose count is below the primary's
-- has not replayed a deletion yet, and history must not show the message from it.
ALTER TABLE groups ADD COLUMN tombstones bigint NOT NULL DEFAULT 0;
UPDATE groups g SET tombstones = d.n
FROM (SELECT gid, count(*) AS n FROM messages WHERE deleted GROUP BY gid) d
WHERE g.gid = d.gid;

-- The messages table becomes 16 hash partitions by gid, converted in place: the old table
-- and its indexes step aside, a partitioned table takes every column, default, check and
-- index (the (gid, seq) primary key and the (sender_id, gid, cid) unique index both hold gid,
-- so each stays unique across partitions), every row moves, and the owner and grants follow.
-- Nothing references messages (no foreign key points at it); a view or a foreign key added
-- on it later would make the DROP below fail, and the whole migration with it.
-- LIKE does not carry triggers, rules, row security policies or publication membership:
-- if an earlier migration gave messages any, stop here rather than lose them silently.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'messages'::regclass AND NOT tgisinternal)
       OR EXISTS (SELECT 1 FROM pg_rewrite WHERE ev_class = 'messages'::regclass)
       OR EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = 'messages'::regclass)
       OR EXISTS (SELECT 1 FROM pg_publication_rel WHERE prrelid = 'messages'::regclass) THEN
        RAISE EXCEPTION 'messages has triggers, rules, policies or publications that 0008 would drop';
    END IF;
END
$$;

ALTER TABLE messages RENAME TO messages_unpartitioned;
ALTER INDEX messages_pkey RENAME TO messages_unpartitioned_pkey;
ALTER INDEX messages_sender_cid RENAME TO messages_unpartitioned_sender_cid;

CREATE TABLE messages (LIKE messages_unpartitioned INCLUDING ALL) PARTITION BY HASH (gid);
ALTER INDEX messages_sender_id_gid_cid_idx RENAME TO messages_sender_cid;

DO $$
DECLARE
    old_table constant regclass := 'messages_unpartitioned'::regclass;
    owner name := (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = old_table);
    acl record;
BEGIN
    FOR i IN 0..15 LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF messages FOR VALUES WITH (MODULUS 16, REMAINDER %s)',
                       'messages_p' || lpad(i::text, 2, '0'), i);
        EXECUTE format('ALTER TABLE %I OWNER TO %I', 'messages_p' || lpad(i::text, 2, '0'), owner);
    END LOOP;
    EXECUTE format('ALTER TABLE messages OWNER TO %I', owner);
    FOR acl IN
        SELECT a.grantee, a.privilege_type, a.is_grantable
        FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid = old_table AND a.grantee <> c.relowner
    LOOP
        EXECUTE format('GRANT %s ON messages TO %s%s', acl.privilege_type,
                       CASE WHEN acl.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(acl.grantee)) END,
                       CASE WHEN acl.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
END
$$;

INSERT INTO messages SELECT * FROM messages_unpartitioned;
DROP TABLE messages_unpartitioned;
ANALYZE messages;
