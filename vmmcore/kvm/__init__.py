"""KVM access: cffi declarations, ioctl encoding, Kvm -> VmFd -> VcpuFd over one seam."""
