# tidegate: not from dbt's tests; what dbt.config.get, meta_get and dbt.this give a model
def model(dbt, session):
    dbt.config(materialized="table", meta={"owner": "analytics"})
    rows = dbt.ref("my_sql_model").aggregate("count(*) as n").fetchall()[0][0]
    return session.sql(
        "select "
        f"'{dbt.config.get('materialized')}' as materialized, "
        f"'{dbt.config.get('unique_key', 'none')}' as unique_key, "
        f"'{dbt.config.get('grain', 'day')}' as grain, "
        f"'{dbt.config.get('team')}' as team, "
        f"'{dbt.config.meta_get('owner')}' as owner, "
        f"'{dbt.this.identifier}' as identifier, "
        f"{dbt.is_incremental} as is_incremental, "
        f"{rows} as my_sql_model_rows"
    )
