-- A member's API token acts for one person of the organisation: the ads it posts name that
-- person, and the token goes with them.
alter table api_tokens add column person_id bigint references member_people (id) on delete cascade;
