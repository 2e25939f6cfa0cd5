"""The handwritten-digits models of the quantization tests and benchmark: a
small MLP and a small CNN trained by PyTorch on the 8x8 digits data set that
Debian's python3-sklearn ships (sklearn.datasets.load_digits, 1797 images,
no download), exported to ONNX. Deterministic: fixed seeds, fixed split.

    make(dir, epochs) -> {"mlp": path, "cnn": path, "x_test": ..., "y_test": ...}
"""
import os

import numpy as np
import torch

SEED = 7


def data():
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(SEED)
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    n = 1200
    return x[:n], y[:n], x[n:], y[n:]


class Mlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(64, 64)
        self.fc2 = torch.nn.Linear(64, 32)
        self.fc3 = torch.nn.Linear(32, 10)

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        h = torch.relu(self.fc2(h))
        return self.fc3(h)


class Cnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(8, 16, 3, padding=1)
        self.fc = torch.nn.Linear(64, 10)

    def forward(self, x):
        h = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        h = torch.max_pool2d(torch.relu(self.conv2(h)), 2)
        return self.fc(torch.flatten(h, 1))


def train(model, x, y, epochs):
    torch.manual_seed(SEED)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    g = torch.Generator().manual_seed(SEED)
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=g)
        for i in range(0, len(xt), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    return model


def export(model, example, path):
    model.eval()
    torch.onnx.export(model, (torch.from_numpy(example),), path,
                      input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}},
                      opset_version=13)


def make(directory, epochs=40, reuse=False):
    """Trains and exports both models (reuse: keep ONNX files already in
    directory, from an earlier run with the same seed; no torch modules are
    returned then)."""
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    xtr, ytr, xte, yte = data()
    out = {"x_train": xtr, "y_train": ytr, "x_test": xte, "y_test": yte}
    paths = [os.path.join(directory, f"digits_{k}.onnx") for k in ("mlp",
                                                                    "cnn")]
    if reuse and all(os.path.exists(p) for p in paths):
        out["mlp"], out["cnn"] = paths
        return out
    torch.manual_seed(SEED)
    mlp = train(Mlp(), xtr, ytr, epochs)
    torch.manual_seed(SEED)
    cnn = train(Cnn(), xtr.reshape(-1, 1, 8, 8), ytr, epochs)
    out["mlp"] = os.path.join(directory, "digits_mlp.onnx")
    out["cnn"] = os.path.join(directory, "digits_cnn.onnx")
    export(mlp, xte[:2], out["mlp"])
    export(cnn, xte[:2].reshape(-1, 1, 8, 8), out["cnn"])
    out["torch"] = {"mlp": mlp, "cnn": cnn}
    return out


if __name__ == "__main__":
    import sys
    d = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(d, exist_ok=True)
    m = make(d)
    for name in ("mlp", "cnn"):
        x = m["x_test"] if name == "mlp" else m["x_test"].reshape(-1, 1, 8, 8)
        acc = (m["torch"][name](torch.from_numpy(x)).argmax(1).numpy()
               == m["y_test"]).mean()
        print(f"{m[name]}: test accuracy {100 * acc:.2f} %")
    np.save(os.path.join(d, "digits_x_train.npy"), m["x_train"])
    np.save(os.path.join(d, "digits_y_train.npy"), m["y_train"])
    np.save(os.path.join(d, "digits_x_test.npy"), m["x_test"])
    np.save(os.path.join(d, "digits_y_test.npy"), m["y_test"])
    np.save(os.path.join(d, "digits_x_test_img.npy"),
            m["x_test"].reshape(-1, 1, 8, 8))
    np.save(os.path.join(d, "digits_x_train_img.npy"),
            m["x_train"].reshape(-1, 1, 8, 8))
