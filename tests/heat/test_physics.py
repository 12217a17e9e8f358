"""Water properties and EN 1434 heat coefficient against IAPWS-IF97 reference values.

Reference values were computed with the ``iapws`` package (IAPWS-IF97, version 1.5.5) at
points that are not on the 5 °C grid of the tables, so interpolation is exercised.
"""

import pytest

from apps.heat import physics

# (°C, bar, density kg/m³, cp kJ/(kg·K), enthalpy kJ/kg)
IF97_POINTS = [
    (7.3, 16.0, 1000.615, 4.19407, 32.2611),
    (37.3, 16.0, 993.8849, 4.17493, 157.6799),
    (62.5, 16.0, 982.5598, 4.18059, 262.9311),
    (88.8, 16.0, 966.8038, 4.20045, 373.111),
    (127.0, 16.0, 938.0525, 4.25542, 534.5129),
    (20.0, 1.01325, 998.2061, 4.18479, 84.0131),
    (60.0, 1.01325, 983.2106, 4.18276, 251.2227),
    (45.5, 10.0, 990.4045, 4.17669, 191.3912),
    (112.2, 6.0, 949.4781, 4.2326, 471.0036),
]

# (supply °C, return °C, k kWh/(m³·K)) with the flow sensor in the return pipe, 16 bar.
K_POINTS = [
    (70, 40, 1.152371),
    (80, 60, 1.143785),
    (110, 70, 1.142345),
    (60, 55, 1.144841),
    (130, 20, 1.165033),
    (45, 35, 1.153565),
]


@pytest.mark.parametrize(("theta", "bar", "rho", "cp", "h"), IF97_POINTS)
def test_water_properties_match_if97_within_a_hundredth_of_a_percent(theta, bar, rho, cp, h):
    assert physics.water_density(theta, pressure_bar=bar) == pytest.approx(rho, rel=1e-4)
    assert physics.water_specific_heat(theta, pressure_bar=bar) == pytest.approx(cp, rel=1e-4)
    assert physics.water_enthalpy(theta, pressure_bar=bar) == pytest.approx(h, rel=1e-4)


def test_textbook_values_at_atmospheric_pressure():
    atm = 1.01325
    assert physics.water_density(20, pressure_bar=atm) == pytest.approx(998.2, abs=0.05)
    assert physics.water_density(60, pressure_bar=atm) == pytest.approx(983.2, abs=0.05)
    assert physics.water_specific_heat(60, pressure_bar=atm) == pytest.approx(4.185, rel=1e-3)


@pytest.mark.parametrize(("supply", "ret", "k"), K_POINTS)
def test_heat_coefficient_matches_en1434_definition(supply, ret, k):
    assert physics.heat_coefficient(supply, ret) == pytest.approx(k, rel=1e-4)


def test_heat_coefficient_depends_on_which_pipe_holds_the_flow_sensor():
    in_return = physics.heat_coefficient(80, 40, flow_at="return")
    in_supply = physics.heat_coefficient(80, 40, flow_at="supply")
    # Hot supply water is lighter, so the same volume carries less mass.
    ratio = physics.water_density(80) / physics.water_density(40)
    assert in_supply / in_return == pytest.approx(ratio, rel=1e-9)


def test_heat_coefficient_at_zero_difference_is_density_times_specific_heat():
    k = physics.heat_coefficient(50, 50)
    expected = physics.water_density(50) * physics.water_specific_heat(50) / 3600
    assert k == pytest.approx(expected, rel=1e-9)
    assert k == pytest.approx(physics.heat_coefficient(50.01, 50), rel=1e-4)


def test_power_and_flow_are_inverse():
    flow = physics.flow_for_power_m3h(120.0, 72.0, 48.0)
    assert physics.thermal_power_kw(flow, 72.0, 48.0) == pytest.approx(120.0, rel=1e-12)
    # 1 m³/h cooled by 20 K carries about 23 kW: a figure every heating engineer knows.
    assert physics.thermal_power_kw(1.0, 70, 50) == pytest.approx(22.9, abs=0.1)


@pytest.mark.parametrize(
    "call",
    [
        lambda: physics.water_density(-1),
        lambda: physics.water_density(141),
        lambda: physics.water_density(50, pressure_bar=0.5),
        lambda: physics.heat_coefficient(70, 40, flow_at="middle"),
        lambda: physics.thermal_power_kw(-1, 70, 40),
        lambda: physics.flow_for_power_m3h(10, 40, 70),
        lambda: physics.flow_for_power_m3h(-10, 70, 40),
    ],
)
def test_out_of_range_inputs_raise_physics_error(call):
    with pytest.raises(physics.PhysicsError):
        call()
