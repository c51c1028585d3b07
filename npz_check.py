
import numpy as np, sys
for name in ["npz_ours_stored.npz", "npz_ours_deflated.npz"]:
    with np.load(name) as z:
        assert z.files == ["w", "l1/W", "ids", "mask", "s", "empty"], z.files
        assert z["w"].dtype == np.float32 and z["w"].shape == (2, 3)
        assert np.array_equal(z["w"], np.array([[1.5, -2.25, 3.0], [1e-30, -0.0, 7.0]], np.float32))
        assert z["l1/W"].dtype == np.float64 and np.array_equal(z["l1/W"], [[0.1], [0.2], [0.3]])
        assert z["ids"].dtype == np.int64 and list(z["ids"]) == [-5, 0, 1 << 40]
        assert z["mask"].dtype == np.bool_ and list(z["mask"]) == [True, False, True]
        assert z["s"].shape == () and z["s"] == 2.5
        assert z["empty"].shape == (0, 4)
np.savez("npz_numpy_stored.npz", a=np.arange(12, dtype=np.float32).reshape(3, 4), b=np.array(True))
np.savez_compressed("npz_numpy_deflated.npz", **{"l1/W": np.linspace(0, 1, 50).reshape(5, 10)})
