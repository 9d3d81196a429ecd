"""Stream-app SQL: any text is an app or a refusal that says why (and where), never an exception."""

from hypothesis import given
from hypothesis import strategies as st

from iotstream.processing.apps import SqlError, plan
from tests.fuzz import fuzz

_KEYWORDS = ["SELECT", "FROM", "WHERE", "GROUP", "BY", "HAVING", "AND", "OR", "XOR", "NOT", "IN", "LIKE"]
_KEYWORDS += ["BETWEEN", "IS", "NULL", "TUMBLE", "HOP", "SESSION", "INTERVAL", "AS", "readings", "*"]
_OTHERS = ["value", "time", "datastream", "unit", "avg", "count", "(", ")", ",", "'", "1", "2.5", "<", "^"]
_SQL_WORDS = st.sampled_from(_KEYWORDS + _OTHERS)


@fuzz(300)
@given(
    st.one_of(
        st.text(max_size=80),
        st.lists(_SQL_WORDS, max_size=25).map(" ".join),
        st.from_regex(r"SELECT [a-z*(), ]{0,20} FROM (readings|\*)( WHERE [a-z<>=0-9 ]{0,15})?"),
    )
)
def test_any_string_is_an_app_or_a_precise_refusal_never_a_crash(sql: str) -> None:
    try:
        refusal, outputs = "", plan(sql).outputs
    except SqlError as err:
        refusal, outputs = err.reason, ()
    assert refusal or outputs
