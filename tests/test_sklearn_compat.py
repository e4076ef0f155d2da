"""scikit-learn's estimator checks."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from shrinktree import ShrinkBoostClassifier, ShrinkBoostRegressor


@parametrize_with_checks([ShrinkBoostRegressor(n_estimators=10), ShrinkBoostClassifier(n_estimators=10),
                          # Interaction constraints fit any number of features (monotonic ones are per feature).
                          ShrinkBoostRegressor(n_estimators=10, interaction_cst="pairwise"),
                          ShrinkBoostClassifier(n_estimators=10, interaction_cst="no_interactions"),
                          # Cross features: a probe fit, columns appended inside, the user's columns outside.
                          ShrinkBoostRegressor(n_estimators=10, cross_features=True),
                          ShrinkBoostClassifier(n_estimators=10, cross_features=True)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
