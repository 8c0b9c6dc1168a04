"""Kubernetes quantities are parsed with apimachinery's grammar, exactly, and nothing else is."""

from fractions import Fraction

import pytest

from core.quantity import parse_quantity


@pytest.mark.parametrize(("text", "value"), [
    ("250m", Fraction(1, 4)),
    ("1", 1),
    ("0.5", Fraction(1, 2)),
    (".5", Fraction(1, 2)),
    ("5.", 5),
    ("-1.5", Fraction(-3, 2)),
    ("+2k", 2000),
    ("329087452n", Fraction(329087452, 10**9)),
    ("1500u", Fraction(3, 2000)),
    ("2748180Ki", 2748180 * 1024),
    ("1.5Gi", 3 * 2**29),
    ("1Ei", 2**60),
    ("129e6", 129_000_000),
    ("1E3", 1000),
    ("1e-3", Fraction(1, 1000)),
    ("1E", 10**18),  # E alone is exa, not an exponent
    ("0", 0),
])
def test_a_quantity_is_read_exactly_as_the_api_server_reads_it(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["1K", "1k8", "", ".", "1e", "1 Gi", "Ki", "1.2.3", "--1", "1gi", "0x10", "1mi"])
def test_a_string_outside_the_grammar_is_refused(text):
    with pytest.raises(ValueError, match="is not a Kubernetes quantity"):
        parse_quantity(text)


def test_the_kubernetes_package_parser_accepts_1K_which_the_server_rejects():
    from kubernetes.utils import parse_quantity as lenient

    assert lenient("1K") == 1000  # why core.quantity exists
