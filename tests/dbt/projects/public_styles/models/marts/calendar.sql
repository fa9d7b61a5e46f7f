-- dbt's own date spine and the package's: both count their periods with a statement
with dbt_days as (
    {{ dbt.date_spine('day', "cast('2024-01-28' as date)", "cast('2024-02-03' as date)") }}
),

package_days as (
    {{ parity_dates.day_spine("cast('2024-01-28' as date)", "cast('2024-02-03' as date)") }}
)

select cast(dbt_days.date_day as date) as date_day, cast(package_days.date_day as date) as package_day
from dbt_days
full outer join package_days on cast(dbt_days.date_day as date) = cast(package_days.date_day as date)
