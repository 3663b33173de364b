"""The model of a realm-capable kernel (RFC-v1 or v7), layered on the arm64 model of KVM.

:class:`RealmModel` is what ``vmm_kvm_model`` returns for arm64 once this layer is
registered; it records the RMI operations the kernel would issue into a
:class:`~vmm.plugins.arm64_realm.rmm.PlanRecorder` per realm, so the RMM model can
compute the realm's measurement.
"""

from .layer import RealmModel
from .realm import RealmVcpu, RealmVm, RmeState, RmmFeatures, realm_of, realm_vcpu

__all__ = ["RealmModel", "RealmVcpu", "RealmVm", "RmeState", "RmmFeatures", "realm_of", "realm_vcpu"]
