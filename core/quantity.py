"""Kubernetes resource quantities (``250m``, ``1.5Gi``, ``129e6``, ``329087452n``), parsed exactly.

The grammar is apimachinery's (``pkg/api/resource/quantity.go``): a signed decimal number, then one
suffix: binary ``Ki Mi Gi Ti Pi Ei``, decimal ``n u m k M G T P E`` or none, or an exponent
``e<int>``/``E<int>``. ``K`` is not a suffix (the API server rejects ``1K``; the kubernetes
package's ``parse_quantity`` accepts it). Values are ``Fraction``s, so ``0.1`` cores is exactly a
tenth and nanocores never round.
"""

from __future__ import annotations

import functools
import re
from fractions import Fraction

__all__ = ["parse_quantity"]

_QUANTITY = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?")
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


@functools.lru_cache(maxsize=8192)  # limits and requests repeat across thousands of pods
def parse_quantity(text: str) -> Fraction:
    """The exact value of a quantity string; ``ValueError`` naming it when it is not one."""
    match = _QUANTITY.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    number, exponent, suffix = match.groups()
    whole, _, fraction = number.lstrip("+-").partition(".")
    digits = int(whole + fraction) * (-1 if number.startswith("-") else 1)  # the grammar has a digit
    scale = -len(fraction)  # value = digits * 10**scale, in integers: no float, no string Fraction
    binary = 1
    if exponent:
        scale += int(exponent[1:])
    elif suffix in _BINARY:
        binary = 1024 ** _BINARY[suffix]
    elif suffix:
        scale += _DECIMAL[suffix]
    if scale >= 0:
        return Fraction(digits * binary * 10**scale)
    return Fraction(digits * binary, 10**-scale)
