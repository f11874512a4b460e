//! Every label fits its widget in every language, measured with FLTK's own text measurement
//! on the real windows.

use crate::harness::Display;
use fltk::enums::Align;
use fltk::prelude::*;
use joint_gui::ui::{self, Msg};

/// Every labelled widget under `group`, with the window's name for the report.
fn widgets(group: &fltk::group::Group, out: &mut Vec<fltk::widget::Widget>) {
    for i in 0..group.children() {
        let Some(child) = group.child(i) else { continue };
        if let Some(inner) = child.as_group() {
            widgets(&inner, out);
        }
        out.push(child);
    }
}

/// What does not fit: (label, needed, available).
fn misfits(window: &fltk::window::Window) -> Vec<(String, i32, i32)> {
    let mut all = Vec::new();
    widgets(&window.as_group().unwrap(), &mut all);
    let mut bad = Vec::new();
    for w in all {
        let label = w.label();
        let align = w.align();
        if label.is_empty() || !w.visible() || align.contains(Align::Clip) {
            continue;
        }
        fltk::draw::set_font(w.label_font(), w.label_size());
        let (needed, available) = if align.contains(Align::Wrap) {
            // Wrapped text must fit the box's height at its width.
            (fltk::draw::wrap_measure(&label, w.w(), true).1, w.h())
        } else if align.contains(Align::Top) && !align.contains(Align::Inside) {
            (fltk::draw::measure(&label, true).0, w.w())
        } else if align.contains(Align::Left) && !align.contains(Align::Inside) {
            // A label left of its widget must fit between the window's edge and the widget.
            (fltk::draw::measure(&label, true).0 + 4, w.x())
        } else {
            // Drawn inside (buttons, headings): leave room for the box's frame.
            (fltk::draw::measure(&label, true).0 + 8, w.w())
        };
        if needed > available {
            bad.push((label, needed, available));
        }
    }
    bad
}

#[test]
fn every_label_fits_its_widget_in_every_language() {
    let display = Display::start();
    std::env::set_var("DISPLAY", &display.name);
    let _app = joint_gui::app::init_toolkit();
    let (sender, _receiver) = fltk::app::channel::<Msg>();
    let mut signin = ui::signin::SignInWindow::build(sender);
    let mut signup = ui::signup::SignUpWindow::build(sender);
    let mut main = ui::main_window::MainWindow::build(sender);
    let mut create = ui::create_group::CreateGroupDialog::build(sender);
    let mut manage = ui::manage_group::ManageGroupDialog::build(sender);
    let mut account = ui::account::AccountDialog::build(sender);
    // The Continue button with a long login, as a user could have.
    signin.offer_continue(Some("a-rather-long.login_42"));
    for w in [
        &mut signin.window,
        &mut signup.window,
        &mut main.window,
        &mut create.window,
        &mut manage.window,
        &mut account.window,
    ] {
        w.show();
    }
    fltk::app::wait_for(0.1).unwrap();
    let mut report = Vec::new();
    for lang in joint_gui::i18n::LANGUAGES {
        rust_i18n::set_locale(lang);
        signin.relabel();
        signin.offer_continue(Some("a-rather-long.login_42"));
        signup.relabel();
        main.relabel();
        create.relabel();
        manage.relabel();
        account.relabel();
        // Every control the admin sees is shown, as in the dialog.
        for (name, window) in [
            ("signin", &signin.window),
            ("signup", &signup.window),
            ("main", &main.window),
            ("create", &create.window),
            ("manage", &manage.window),
            ("account", &account.window),
        ] {
            for (label, needed, available) in misfits(window) {
                report.push(format!("{lang} {name}: {label:?} needs {needed} px, has {available}"));
            }
        }
    }
    assert!(report.is_empty(), "labels that do not fit:\n{}", report.join("\n"));
}
