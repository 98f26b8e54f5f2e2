"""minidl-optim: chapter 7 optimizers from scratch, the airfoil data, `minidl optim compare`."""

__version__ = "0.1.0"
