
import numpy as np
z = np.load("layers_numpy.npz")
assert sorted(z.files) == ["l1/W", "l1/b", "l2/W", "l2/b", "scale"], z.files
assert z["l1/W"].shape == (3, 100) and z["l1/W"].dtype == np.float32
assert np.array_equal(z["l1/W"], np.load("layers_numpy_l1W.npy"))
assert z["scale"].shape == () and z["scale"] == 1.0
