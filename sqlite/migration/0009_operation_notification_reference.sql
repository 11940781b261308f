-- The delivery log's reference_number of an operation notification is the operation's
-- own, the one in its payload (before, the parent's was recorded): rewrite the stored
-- ones from their bodies. JSON bodies: the top-level reference_number. XML bodies
-- (indented by two spaces per level): the top-level element, the one right after a
-- newline and two spaces. A body that carries none is left as it is.
UPDATE notifications
SET reference_number = json_extract(CAST(body AS TEXT), '$.reference_number')
WHERE kind = 'operation'
  AND content_type LIKE 'application/json%'
  AND json_valid(CAST(body AS TEXT))
  AND json_type(CAST(body AS TEXT), '$.reference_number') = 'text'
  AND json_extract(CAST(body AS TEXT), '$.reference_number') <> '';

UPDATE notifications
SET reference_number = substr(
        substr(CAST(body AS TEXT), instr(CAST(body AS TEXT), char(10) || '  <reference_number>') + 21),
        1,
        instr(substr(CAST(body AS TEXT), instr(CAST(body AS TEXT), char(10) || '  <reference_number>') + 21), '</reference_number>') - 1)
WHERE kind = 'operation'
  AND content_type LIKE 'application/xml%'
  AND instr(CAST(body AS TEXT), char(10) || '  <reference_number>') > 0
  AND instr(substr(CAST(body AS TEXT), instr(CAST(body AS TEXT), char(10) || '  <reference_number>') + 21), '</reference_number>') > 1;
