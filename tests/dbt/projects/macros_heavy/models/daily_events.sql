{{ config(alias='events_per_day', schema='analytics') }}

{% set days = [] %}
{% for offset in range(6) %}
    {% do days.append("date '2024-06-01' + interval " ~ offset ~ " day") %}
{% endfor %}

with spine as (
    {% for day in days -%}
    select cast({{ day }} as date) as day {{ 'union all' if not loop.last }}
    {% endfor %}
)

select
    spine.day,
    count(e.event_id) as events,
    count(distinct e.user_id) as users
from spine
left join {{ ref('stg_events') }} as e on cast(e.occurred_at as date) = spine.day
group by spine.day
