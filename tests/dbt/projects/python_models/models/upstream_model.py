def model(dbt, con):
    dbt.config(
        materialized='table',
    )
    return con.query("select 'a'::varchar as a, 0::boolean as b limit 0")
