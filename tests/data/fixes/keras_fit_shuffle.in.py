"""Keras: shuffle=False on arrays; the fix drops it (Keras shuffles by default)."""

from tensorflow import keras

(x_train, y_train), _ = keras.datasets.mnist.load_data()
x_train = x_train.reshape(-1, 784) / 255.0
model = keras.Sequential([keras.layers.Dense(64, activation="relu"), keras.layers.Dense(10)])
model.compile(
    optimizer="adam",
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
)
model.fit(x_train, y_train, epochs=3, validation_split=0.1, shuffle=False)
