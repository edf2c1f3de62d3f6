"""Learn: MID, the attack and the metrics in plain words, beside the formulas."""

import streamlit as st

st.title("Learn: model inversion and the MID defense")

SECTIONS = [
    (
        "Model inversion",
        "A face recognition model is trained on photos of a few people. **Model inversion** turns the model "
        "against its own training data: an attacker who can query it asks, again and again, *what input makes "
        "you most sure this is person 7?*, and adjusts an image until the answer is a confident yes. "
        "The result is a picture of what the model has learnt about person 7, often recognisably them.\n\n"
        "**MI-Face** (Fredrikson, Jha, Ristenpart, CCS 2015) does exactly that with gradient steps on the "
        "pixels. Left alone it paints noise that only the model understands, so it is kept smooth (a total "
        "variation penalty, a little blur and jitter) and starts from an average face of *other* people, "
        "never from the private photos.",
        "The attack's objective",
        [r"\begin{aligned} \hat{x}_y &= \arg\max_{x \in [0,1]^{H \times W}} \; \log p_\theta(y \mid x) \\ "
         r"&\quad - \alpha\, \mathrm{TV}(x) \end{aligned}"],
        "Raise the model's log-probability of person y; TV(x) penalises pixel-to-pixel jumps.",
    ),
    (
        "GMI: search a face generator, not pixels",
        "**GMI** (Zhang et al., CVPR 2020) first learns what faces look like from photos of *other* people "
        "(here a DCGAN trained on 10,210 LFW faces of 5,687 people who are not in any private set). The "
        "generator G turns a random code w into a face. The attack then searches the codes, not the pixels, "
        "for a face the model is sure is person y, while the GAN's discriminator D keeps it looking real. "
        "Every candidate is a face, so the result cannot be adversarial noise. Several searches run per "
        "person; the one the model trusts most is kept.",
        "The attack's objective",
        [r"\begin{aligned} \hat{w}_y &= \arg\min_{w \in [-1, 1]^{100}} \; \ell_y(w), "
         r"\qquad \hat{x}_y = G(\hat{w}_y) \\ "
         r"\ell_y(w) &= -\log \frac{p_\theta(y \mid G(w))}{1 - p_\theta(y \mid G(w))} \\ "
         r"&\quad + \beta\, \mathrm{softplus}\big(-D(G(w))\big) \end{aligned}"],
        "White-box: the model's gradients flow through G back to the code w. The log-odds keep pushing after "
        "the model is 99% sure, where GMI's plain -log p would stop. After each step every coordinate of w is "
        "clamped to [-1, 1], as in GMI's code: the search stays where G draws its most typical faces.",
    ),
    (
        "The inversion network: outputs only",
        "The black-box attack of Yang et al. (CCS 2019) never sees a gradient or a weight. It sends public "
        "faces to the model, collects the probability vectors it answers with, and trains a decoder to turn "
        "a vector back into the face that produced it. Given the vector a person's photos typically get, the "
        "decoder draws that person as the model sees them. An API that returns only its top-k answers leaks "
        "less: the vector is truncated to its k largest entries before decoding.",
        "The decoder's training",
        [r"\min_\psi \sum_{x \in \text{public}} \big\| D_\psi\big(\mathrm{trunc}_k\, \log p_\theta(\cdot \mid x)"
         r"\big) - x \big\|^2",
         r"\hat{x}_y = D_\psi\big(\mathrm{trunc}_k \log \bar{p}_y\big)"],
        "p̄_y: the mean of the model's answers on person y's photos.",
    ),
    (
        "MID: a bottleneck on what the model remembers",
        "MID (Wang, Zhang, Jia, AAAI 2021) makes the model pass its evidence through a **noisy code** z. "
        "The penultimate layer gives a mean mu and a spread sigma, z is drawn from that Gaussian, and the "
        "classifier sees only z. Training pays a price, weighted by **lambda**, for every bit z carries "
        "about the input beyond a standard Gaussian. A larger lambda keeps less information about the input, "
        "so there is less for an attacker to invert; but also less to recognise people with.",
        "The training loss",
        [r"\begin{aligned} \mathcal{L} &= \mathrm{CE}\big(y, f(z)\big) \\ "
         r"&\quad + \lambda\, \mathrm{KL}\big(\mathcal{N}(\mu, \sigma^2) \,\|\, \mathcal{N}(0, I)\big) \end{aligned}",
         r"\begin{aligned} z &= \mu + \sigma \odot \varepsilon, \qquad [\mu, s] = W h + b \\ "
         r"\sigma &= \mathrm{softplus}(s - 5) \end{aligned}"],
        "The KL term is summed over z's k dimensions and averaged over the batch (the official code).",
    ),
]

for title, words, formula_title, formulas, note in SECTIONS:
    left, right = st.columns(2)
    with left:
        st.subheader(title)
        st.markdown(words)
    with right:
        st.subheader(formula_title)
        for formula in formulas:
            st.latex(formula)
        st.caption(note)

st.subheader("What the numbers mean, and where they mislead")
st.markdown(
    """
- **Test accuracy**: how often the deployed model names the right person on photos it never saw. The
  deployed MID model samples z afresh for every answer, as in the official code.
- **Attack top-1 / top-5**: a separate *judge*, a classifier of a different design trained independently,
  looks at each reconstruction and guesses who it is. Top-1 counts the people it names correctly, top-5 those
  among its five best guesses. The judge's own accuracy on held-out photos is shown beside every figure: a
  weak judge makes every attack number meaningless.
- **False positives and negatives**: a judge can name the right person for a blurry blob, or miss a good
  likeness. **Look at the images**, not only the numbers.
- **Feature distance**: how far, in the judge's internal features, a reconstruction lies from the nearest
  real training photo of that person. A real held-out photo of the same person gives the scale.
- **Intervals**: with 40 people, one person moves attack accuracy by 2.5 points, so every rate carries a 95%
  interval. Two lambdas whose intervals overlap are not shown to differ.
- **Confidence and entropy**: MID spreads the model's predicted probabilities over many labels (the
  prediction-spread figure). A softer output is not by itself a proof of privacy: compare the faces.
- **The attacker's view**: by default the attacker queries the deployed model, whose answer draws a fresh z
  every time (the paper's threat model). A white-box attacker who reads mu strips MID's noise and is stronger;
  results are labelled with the view they used, and where it is not the deployed one the test accuracy of the
  function it queried is given beside the deployed model's.
"""
)
