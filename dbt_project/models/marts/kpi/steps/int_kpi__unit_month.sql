{#- Every source system's indicators per month and unit as recorded, in one shape. -#}
select period_month, unit_code, unit_key, unit_level, current_province_code, kpi_code, numerator, denominator
from {{ ref('int_kpi__procedures_unit_month') }}
union all
select period_month, unit_code, unit_key, unit_level, current_province_code, kpi_code, numerator, denominator
from {{ ref('int_kpi__documents_unit_month') }}
union all
select period_month, unit_code, unit_key, unit_level, current_province_code, kpi_code, numerator, denominator
from {{ ref('int_kpi__reports_unit_month') }}
