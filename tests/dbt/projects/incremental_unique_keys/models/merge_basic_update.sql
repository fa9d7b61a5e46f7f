{{ config(
    materialized='incremental',
    incremental_strategy='merge',
    unique_key='id'
) }}

{% if is_incremental() %}
SELECT 1 AS id, 'Alice Updated' AS name, 26 AS age, 'Senior Engineer' AS job
UNION ALL
SELECT 4 AS id, 'Diana' AS name, 28 AS age, 'Designer' AS job
{% else %}
SELECT 1 AS id, 'Alice' AS name, 25 AS age, 'Engineer' AS job
UNION ALL
SELECT 2 AS id, 'Bob' AS name, 30 AS age, 'Manager' AS job
UNION ALL
SELECT 3 AS id, 'Charlie' AS name, 35 AS age, 'Director' AS job
{% endif %}
