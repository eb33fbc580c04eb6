-- reason_category_of(reason): a short stable code for a quarantine reason, so rejects can be
-- grouped (the reason text quotes the offending value and cannot be). The code is that of the
-- first broken rule: quoted values are blanked first, so a value cannot pose as a rule, then the
-- text before the first '; ' is matched against the rules' wording below. Landing stores it in
-- each quarantine row; the quarantine view derives it for files written before the column.
create or replace macro reason_rule_category(rule) as
    case
        when rule is null then null
        when rule like '%could not be validated%' then 'internal_error'
        when rule like '%is not valid UTF-8%' or rule like '%holds a lone surrogate escape%'
            then 'invalid_utf8'
        when rule like '%bytes, over the limit of%' then 'too_large'
        when regexp_matches(rule, 'nested (too|more than|[0-9]+ levels) deep') then 'too_deep'
        when rule like '%repeats the top-level key%' or rule like '%repeats a key%'
            or rule like '% given twice, as %' then 'duplicate_key'
        when rule like '%which JSON does not allow%' then 'not_finite'
        when rule like '%is not valid JSON%' then 'invalid_json'
        when rule like '%is JSON but not an object%' then 'not_object'
        when rule like '%not JSON%' or rule like '%has the key%'
            or rule like '%cannot be written as JSON%' then 'not_json'
        when rule like '%contains a control character%' then 'control_char'
        when rule like '%is required%' then 'missing_field'
        when rule like '%must be a string%' or rule like '%must be a JSON object%' then 'bad_type'
        when rule like '%characters long (got%' or rule like '%is longer than%' then 'too_long'
        when rule like '%is not a known event type%' then 'unknown_event_type'
        when rule like '%is not a known stage%' then 'unknown_stage'
        when rule like '%disagrees with event_type%' then 'stage_mismatch'
        when rule like '%has no UTC offset%' then 'naive_timestamp'
        when rule like '%is out of range%' then 'timestamp_out_of_range'
        when rule like '%minutes after now%' then 'future_timestamp'
        when rule like '%is not epoch milliseconds%' then 'bad_timestamp'
        when rule like '%must be a finite number%' or rule like '%must be a number between%'
            or rule like '%must be a whole number%'
            or rule like '%more than one event may carry%' then 'bad_number'
        else 'other'
    end;

-- the rule's wording is matched with its quoted values blanked, before the first '; '. A
-- string value is shown whole ("...") or, when longer than 80 characters, cut to its first 77
-- and '...' (validation.py `_shown`): the quote and exactly 76 characters, then '...'.
create or replace macro reason_category_of(reason) as
    reason_rule_category(split_part(
        regexp_replace(reason, '"(?:.{76}\.\.\.|(?:[^"\\]|\\.)*")', '""', 'g'), '; ', 1));
