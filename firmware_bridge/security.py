# SPDX-License-Identifier: Apache-2.0
"""What "secured" means on a tag: configuration, not code.

Libraries disagree: ISO 28560 systems use AFI 0x07 (in stock) / 0xC2 (on loan), 3M uses 0xD7 /
0xDA, Dutch systems use the NXP EAS bit, Chinese GB/T 35660 systems use both, and some sites have
local values (libdanrfid's 0x21). A :class:`SecurityScheme` names the values one site uses; the
drivers write and verify exactly those (shared/reference/iso28560.md §4).

Not responsible for: deciding *whether* an item should be secured (the workflows and the
catalog do that).
"""

from __future__ import annotations

from dataclasses import dataclass

AFI_ISO_IN_STOCK = 0x07  # "agreed by JTC1 SC31 WG4 SG1" (biblstandard.dk/rfid/afi.htm)
AFI_ISO_ON_LOAN = 0xC2  # allocated for library use by the ISO/IEC 15961 DCSG
AFI_3M_SECURED = 0xD7  # Biblio-RFID RFID501.pm
AFI_3M_UNSECURED = 0xDA


@dataclass(frozen=True, slots=True)
class SecurityScheme:
    """Which security carriers a site uses and their values."""

    use_afi: bool = True
    afi_secured: int = AFI_ISO_IN_STOCK
    afi_unsecured: int = AFI_ISO_ON_LOAN
    use_eas: bool = False

    def __post_init__(self) -> None:
        if not (self.use_afi or self.use_eas):
            raise ValueError("security scheme: enable the AFI, the EAS bit, or both")
        for name in ("afi_secured", "afi_unsecured"):
            value = getattr(self, name)
            if not 0 <= value <= 0xFF:
                raise ValueError(f"security scheme: {name} 0x{value:X} is not one byte")
        if self.use_afi and self.afi_secured == self.afi_unsecured:
            raise ValueError("security scheme: afi_secured and afi_unsecured must differ")

    def afi_for(self, secured: bool) -> int:
        return self.afi_secured if secured else self.afi_unsecured

    def is_secured(self, *, afi: int | None, eas: bool | None) -> bool | None:
        """True/False when the tag's state says so unambiguously, None when it does not
        (an AFI that is neither configured value, or AFI and EAS disagreeing)."""
        verdicts: list[bool] = []
        if self.use_afi:
            if afi == self.afi_secured:
                verdicts.append(True)
            elif afi == self.afi_unsecured:
                verdicts.append(False)
            else:
                return None
        if self.use_eas:
            if eas is None:
                return None
            verdicts.append(eas)
        return verdicts[0] if len(set(verdicts)) == 1 else None


PRESETS: dict[str, SecurityScheme] = {
    "iso": SecurityScheme(),
    "3m": SecurityScheme(afi_secured=AFI_3M_SECURED, afi_unsecured=AFI_3M_UNSECURED),
    "eas": SecurityScheme(use_afi=False, use_eas=True),
    "iso+eas": SecurityScheme(use_eas=True),
}
