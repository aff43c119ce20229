"""Pure Plotly figure builders, one module per page (replay, compare, sql) over a shared
base; no Streamlit here, so each is testable and benchmarkable on its own."""
