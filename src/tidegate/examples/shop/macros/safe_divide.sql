{% macro safe_divide(numerator, denominator) %}({{ numerator }}) / nullif({{ denominator }}, 0){% endmacro %}
