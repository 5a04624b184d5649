"""The paper's clustering accuracies (%, mean and std over runs; docs/paper.md §1), for the rows we run.

Printed only in the tables' column labelled as the paper's: never used as, or in place of, a result.
"""

# As printed in the paper: "mean (std)".
ACCURACY = {
    "kmeans": {"mnist": "53.3 (0.1)", "stl10": "85.0 (0.2)", "cifar10": "34.4 (0.9)", "reuters10k": "53.7 (0.4)",
               "20news": "14.0 (1.5)"},
    "ac": {"mnist": "62.1 (0.0)", "stl10": "82.2 (0.0)", "cifar10": "42.4 (0.0)", "reuters10k": "54.9 (0.0)",
           "20news": "18.6 (0.0)"},
    "ladder-im": {"mnist": "95.0 (2.8)", "stl10": "90.7 (1.8)", "cifar10": "49.5 (2.9)", "reuters10k": "68.2 (2.8)",
                  "20news": "38.4 (2.5)"},
    "ladder-im-ensemble": {"mnist": "95.1 (0.4)", "stl10": "91.5 (0.3)", "cifar10": "51.5 (0.9)",
                           "reuters10k": "69.0 (3.4)", "20news": "40.5 (0.6)"},
    "ladder-dot": {"mnist": "89.2 (7.2)", "stl10": "76.1 (4.7)", "cifar10": "48.0 (1.0)", "reuters10k": "66.6 (4.8)",
                   "20news": "25.6 (1.3)"},
    "kingdra-ladder-dot": {"mnist": "98.0 (0.01)", "stl10": "93.5 (1.4)", "cifar10": "54.3 (2.5)",
                           "reuters10k": "71.9 (3.4)", "20news": "28.4 (1.2)"},
    "kingdra-ladder-im": {"mnist": "98.5 (0.4)", "stl10": "95.1 (0.1)", "cifar10": "54.6 (0.9)",
                          "reuters10k": "70.5 (2.0)", "20news": "43.9 (1.4)"},
}
