//! Setting a pruned network's kept weights: back to an earlier copy's (rewinding) or to fresh random ones.

use crate::error::Result;

use super::{Init, Mlp, MlpConfig};

impl Mlp {
    /// Sets every unpruned weight and bias to its value in `other` (same shapes), keeping this model's masks.
    pub(crate) fn rewind_to(&mut self, other: &Mlp) {
        for (l, o) in self.layers.iter_mut().zip(&other.layers) {
            match &l.mask {
                Some(mask) => ndarray::Zip::from(&mut *l.weight)
                    .and(mask)
                    .and(&*o.weight)
                    .for_each(|w, &keep, &v| *w = if keep { v } else { 0.0 }),
                None => l.weight.assign(&o.weight),
            }
            if let (Some(b), Some(ob)) = (&mut l.bias, &o.bias) {
                match &l.bias_mask {
                    Some(mask) => ndarray::Zip::from(b)
                        .and(mask)
                        .and(ob)
                        .for_each(|b, &keep, &v| *b = if keep { v } else { 0.0 }),
                    None => b.assign(ob),
                }
            }
        }
    }

    /// Draws fresh random weights and biases (keeping masks: pruned weights stay zero), for the lottery
    /// ticket's "same mask, random weights" control.
    pub fn reinitialize(&mut self, init: Init, seed: u64) -> Result<()> {
        let mut fresh = self.clone();
        fresh.make_permanent();
        let sizes = self.sizes();
        let config = MlpConfig::new(&sizes)
            .activation(self.layers[0].activation)
            .output_activation(self.output_activation())
            .topology(self.topology)
            .init(init)
            .seed(seed);
        let drawn = config.build()?;
        for (f, d) in fresh.layers.iter_mut().zip(drawn.layers) {
            f.weight = d.weight;
            if let (Some(b), Some(db)) = (&mut f.bias, d.bias) {
                *b = db;
            }
        }
        self.rewind_to(&fresh);
        Ok(())
    }
}
