"""The paper's model: the three networks (networks.py, layers.py), the losses of Eq. 9 (losses.py),
the VAEGAN whose train_step applies them (vaegan.py), the two ways its gradients are computed
(gradients.py), optimizers (optim.py) and checkpoint format (checkpoint.py). Importing this
package imports none of them."""
