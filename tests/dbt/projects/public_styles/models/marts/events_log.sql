{{ config(materialized='incremental') }}

select id, kind, cast(happened_at as timestamp) as happened_at
from {{ source('files', 'events') }}
{% if is_incremental() %}
where id > (select max(id) from {{ this }})
{% endif %}
