-- The delivery log's reference_number of an operation notification is the operation's
-- own, the one in its payload (before, the parent's was recorded): rewrite the stored
-- ones from their bodies. JSON bodies: the top-level reference_number. XML bodies
-- (indented by two spaces per level): the top-level element, the one right after a
-- newline and two spaces. A body that carries none is left as it is.
UPDATE notifications
SET reference_number = convert_from(body, 'UTF8')::jsonb ->> 'reference_number'
WHERE kind = 'operation'
  AND content_type LIKE 'application/json%'
  AND jsonb_typeof(convert_from(body, 'UTF8')::jsonb -> 'reference_number') = 'string'
  AND convert_from(body, 'UTF8')::jsonb ->> 'reference_number' <> '';

UPDATE notifications
SET reference_number = substring(convert_from(body, 'UTF8') from E'\n  <reference_number>([^<]+)</reference_number>')
WHERE kind = 'operation'
  AND content_type LIKE 'application/xml%'
  AND substring(convert_from(body, 'UTF8') from E'\n  <reference_number>([^<]+)</reference_number>') IS NOT NULL;
